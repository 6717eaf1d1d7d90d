"""The App Container specification (appc 0.8.11) as a standalone library.

``appc.schema`` models the spec's types and manifests (types.md, aci.md, pods.md, ace.md),
``appc.aci`` reads, checks and builds image archives, ``appc.discovery`` finds where images and
their keys live (discovery.md), and ``appc.actool`` is the command-line tool on top of them.
Every error derives from :class:`appc.errors.AppcError`.

The library depends on the standard library and msgspec only and imports nothing from ``rkt``;
submodules are imported on demand so that ``import appc`` costs next to nothing.
"""

SPEC_VERSION = "0.8.11"
