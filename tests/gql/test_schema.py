"""schema.graphql is generated from the code: fail when it drifts."""

from __future__ import annotations

from strawberry.printer import print_schema

from gql.schema import SCHEMA_FILE, schema, sdl


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == sdl(), "run `python -m gql.schema > schema.graphql`"
    assert sdl().strip() == print_schema(schema).strip()


def test_contract_names_are_present() -> None:
    text = sdl()
    for name in (
        "scalar File", "upload(id: ID!): Upload",
        "uploads(first: Int = 20, after: String = null, status: Status = null",
        "): UploadConnection!",
        "createUpload(files: [File!]!, idempotencyKey: String = null, webhookUrl: String = null)"
        ": Upload!",
        "redeliverWebhook(uploadId: ID!): Upload", "webhookDeliveries: [WebhookDelivery!]!",
        "uploadEvents(id: ID!, after: Int = null): UploadEvent!", "ENCRYPTED_DOCUMENT",
        "cancelUpload(id: ID!): Upload", "retryDocument(id: ID!): Document",
        "pauseProcessing: ProcessingState!", "resumeProcessing: ProcessingState!",
        "workers: [Worker!]!", "ping: DateTime!",
    ):  # fmt: skip
        assert name in text, name
