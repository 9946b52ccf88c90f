"""Retention: order payloads of finished work are purged after a configured age.

What goes (``revflow.retention.purge``) and what stays: rows, states, ids and counts
stay; the payloads (order snapshots, connector attempts' error texts, sent write-back
items, consumed signals, replayed dead letters) go.  ``revflow purge`` and the
supervised ``retention`` loop do it; each run that purged anything is audited.
"""
