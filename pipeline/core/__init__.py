"""What every pipeline step shares: ``PipelineError``, the frozen ``Settings`` the CLI builds once from the
environment, the one subprocess runner, the toolchain finder and process-tree inspection (psutil)."""
