"""Build and artifact: deterministic Lambda archives (``package``, ``dependencies``, ``zipwriter``) and the
deployable artifact, the synthesized stack directory named by one SHA-256 (``artifact``), which every
piece of evidence is bound to."""
