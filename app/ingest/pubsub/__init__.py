"""Salesforce Pub/Sub API (gRPC) transport: generated eventbus.v1 stubs, bitmap and
Avro decoding, and ``PubSubSource`` (the CometD source's gRPC twin).

Import the submodules directly (``revflow.ingest.pubsub.source`` etc.); this package
does not import them eagerly so the sandbox can use the stubs without the client.
"""
