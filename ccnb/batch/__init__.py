"""Batch runs: every notebook for every client, executed, rendered for readers, exported.

The machinery behind ``ccnb run``, ``ccnb check`` and ``ccnb new``; the analysis itself lives
in the modules above this package. Modules by stage (nothing is imported here, so a notebook
kernel that writes an export does not load papermill):

=================  ==============================================================
``cli``            the ``ccnb`` command (typer): check, new, run
``scaffold``       ``ccnb new``: a params file guessed from a client's export
``parallel``       many clients, each in its own process, checked first
``client_run``     one client: staged, tables precomputed, published only when all succeeded
``execute``        one notebook with papermill (retry on kernel start), failure located by cell
``inputs``         notebooks to run, input files with checksums, library versions
``records``        what a run records: notebook and client runs, progress events
``index_pages``    the client and site index pages, the run summary
``render``         reader HTML: no code, no CDN, a table of contents
``exports``        the CSV exports a notebook writes for CRM activation
``_layout``        the output folder's layout and whole-file writes (private)
=================  ==============================================================
"""
