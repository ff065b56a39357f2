"""The policy gate: Checkov with the PCI DSS pack on the synthesized JSON and the plan (``checkov``), the
pack's requirement mapping (``pack``), waivers with owner and expiry (``waivers``), the verdict
(``gate``) and its console, JUnit, SARIF and coverage reports (``reports``)."""
