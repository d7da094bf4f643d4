"""The spec pipeline: fetch → normalize → generate → check, plus drift reports.

Each step works API by API and writes its result to a temporary place first; an API's previous
output is replaced only when that API's whole step succeeded, so one broken upstream document never
costs the others (or the committed files) anything.
"""
