"""Docker and OCI images, converted to ACIs as docker2aci did, natively in the store.

How the parts fit:

- :mod:`~rkt.fetch.oci.pull` is the entry point (:class:`~rkt.fetch.oci.pull.OciFetcher`,
  called by :class:`rkt.fetch.Fetcher` for ``docker://``, ``oci:``, ``oci-archive:`` and
  ``docker-archive:`` arguments): the pull policy against the store's remembered references,
  then resolve, fetch and apply the layers, write the ACI, commit.
- :mod:`~rkt.fetch.oci.reference` parses the arguments (Docker's name normalisation);
  :mod:`~rkt.fetch.oci.source` is the interface of an image's origin, with the registry
  source; :mod:`~rkt.fetch.oci.local` the layout and archive sources (on
  :mod:`~rkt.fetch.oci.tarindex`, random access into a tar file).
- :mod:`~rkt.fetch.oci.registry` speaks the registry HTTP API v2 over
  :class:`rkt.fetch.http.HttpTransport`; :mod:`~rkt.fetch.oci.auth` answers its challenges
  (Basic, Bearer tokens) with :mod:`~rkt.fetch.oci.credentials` (``auth.d`` ``dockerAuth``,
  Docker's ``config.json``).
- :mod:`~rkt.fetch.oci.document` parses manifests, indexes and configs and picks the
  platform; :mod:`~rkt.fetch.oci.digest` checks every byte against its digest.
- :mod:`~rkt.fetch.oci.layer` applies a layer (tar, gzip, zstd; whiteouts) through the
  store's extractor; :mod:`~rkt.fetch.oci.conversion` makes the image manifest from the
  config; :mod:`~rkt.fetch.oci.packing` writes the ACI from the rendered tree.

Errors are :class:`rkt.errors.FetchError` (and the store's), one line each, naming the
reference, layer or digest. Nothing here is imported until such an argument is fetched.
"""
