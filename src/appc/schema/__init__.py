"""The spec's types and manifests.

Each spec type has a module of its own: names (``name``), versions (``semver``), image IDs
(``hash``), labels, annotations, environment, the app object and its parts (``app``), volumes,
resource quantities (``quantity``), isolators (``isolator`` with typed values in ``resource`` and
``linux``), dependencies, and the two manifests (``image``, ``pod``). Readers take the value
decoded from JSON and the JSON path it sits at, validate it against the spec and return frozen
dataclasses; ``field`` holds the shared readers for JSON's basic shapes. Writers (``to_json``)
mirror the reference implementation's field order and omission rules so that documents round
trip unchanged through either implementation.
"""
