from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "control" (
    "name" VARCHAR(64) NOT NULL PRIMARY KEY,
    "value" VARCHAR(255) NOT NULL,
    "updated_at" TIMESTAMP NOT NULL
) /* Cluster-wide switches, one row per name (e.g. processing paused). */;
CREATE TABLE IF NOT EXISTS "upload" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "status" VARCHAR(16) NOT NULL /* PENDING: PENDING\nIN_PROGRESS: IN_PROGRESS\nCOMPLETED: COMPLETED\nFAILED: FAILED\nCANCELLED: CANCELLED */,
    "created_at" TIMESTAMP NOT NULL,
    "finished_at" TIMESTAMP,
    "idempotency_key" VARCHAR(255) UNIQUE,
    "document_count" INT NOT NULL,
    "sequence" INT NOT NULL,
    "archive_path" VARCHAR(512)
);
CREATE INDEX IF NOT EXISTS "idx_upload_status_92894f" ON "upload" ("status");
CREATE INDEX IF NOT EXISTS "idx_upload_created_9e7e99" ON "upload" ("created_at");
CREATE TABLE IF NOT EXISTS "document" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "index" INT NOT NULL,
    "filename" TEXT NOT NULL,
    "status" VARCHAR(16) NOT NULL /* PENDING: PENDING\nIN_PROGRESS: IN_PROGRESS\nCOMPLETED: COMPLETED\nFAILED: FAILED\nCANCELLED: CANCELLED */,
    "content_type" VARCHAR(128),
    "size_bytes" BIGINT NOT NULL,
    "sha256" VARCHAR(64) NOT NULL,
    "original_path" VARCHAR(512) NOT NULL,
    "page_count" INT,
    "error_code" VARCHAR(32) /* UNSUPPORTED_FORMAT: UNSUPPORTED_FORMAT\nCORRUPT_FILE: CORRUPT_FILE\nENCRYPTED_PDF: ENCRYPTED_PDF\nENCRYPTED_DOCUMENT: ENCRYPTED_DOCUMENT\nTOO_LARGE: TOO_LARGE\nUNSAFE_ARCHIVE: UNSAFE_ARCHIVE\nTIMEOUT: TIMEOUT\nRESOURCE_LIMIT: RESOURCE_LIMIT\nWORKER_CRASHED: WORKER_CRASHED\nCANCELLED: CANCELLED\nINTERNAL: INTERNAL */,
    "error_message" TEXT,
    "attempts" INT NOT NULL,
    "lease_owner" VARCHAR(128),
    "lease_expires" TIMESTAMP,
    "deduplicated_from" CHAR(36),
    "created_at" TIMESTAMP NOT NULL,
    "started_at" TIMESTAMP,
    "finished_at" TIMESTAMP,
    "upload_id" CHAR(36) NOT NULL REFERENCES "upload" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_document_upload__a64602" UNIQUE ("upload_id", "index")
);
CREATE INDEX IF NOT EXISTS "idx_document_status_ff7f1e" ON "document" ("status");
CREATE INDEX IF NOT EXISTS "idx_document_sha256_7c7e15" ON "document" ("sha256");
CREATE INDEX IF NOT EXISTS "idx_document_lease_e_a0efb3" ON "document" ("lease_expires");
CREATE TABLE IF NOT EXISTS "event" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "sequence" INT NOT NULL,
    "kind" VARCHAR(32) NOT NULL /* SNAPSHOT: SNAPSHOT\nDOCUMENT_STARTED: DOCUMENT_STARTED\nPAGE_DONE: PAGE_DONE\nDOCUMENT_DONE: DOCUMENT_DONE\nDOCUMENT_FAILED: DOCUMENT_FAILED\nUPLOAD_DONE: UPLOAD_DONE */,
    "payload" JSON NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "upload_id" CHAR(36) NOT NULL REFERENCES "upload" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_event_upload__0dfcf6" UNIQUE ("upload_id", "sequence")
) /* A committed progress event; kept so a subscriber that reconnects misses nothing. */;
CREATE TABLE IF NOT EXISTS "page" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "number" INT NOT NULL,
    "width" INT NOT NULL,
    "height" INT NOT NULL,
    "path" VARCHAR(512) NOT NULL,
    "size_bytes" BIGINT NOT NULL,
    "created_at" TIMESTAMP NOT NULL,
    "document_id" CHAR(36) NOT NULL REFERENCES "document" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_page_documen_4a82a0" UNIQUE ("document_id", "number")
);
CREATE TABLE IF NOT EXISTS "worker" (
    "id" VARCHAR(128) NOT NULL PRIMARY KEY,
    "host" VARCHAR(255) NOT NULL,
    "pid" INT NOT NULL,
    "started_at" TIMESTAMP NOT NULL,
    "heartbeat_at" TIMESTAMP NOT NULL,
    "current_document" CHAR(36),
    "conversions_done" INT NOT NULL,
    "rss_bytes" BIGINT NOT NULL
) /* Heartbeat row of one worker process, for the operators' live worker list. */;
CREATE INDEX IF NOT EXISTS "idx_worker_heartbe_22167b" ON "worker" ("heartbeat_at");
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSON NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXetzozgS/1dU/nIzVdlU4jwvd3VVjE0S7zjG5cfO3q63KAVkmwoWLBLx+Pbyv5/Ew7"
    "yJcWwfZvgygW41yL+W1A+1mL8aC0NFOjltGZhaht64A381MFwgdhFnnYAGNM2AwQkUPutO"
    "WyXU6JlQCyqUkadQJ4iRVEQUSzOpZmDeuKXbhCLrp6WmIkCWGlXmiJwAAyNgGUtgIgvwPo"
    "BP6HR2CkzLUBAhGp4BE9oEqZ9P+WtUQ2HvYdSdPdHG2p82kqkxQ3SOLPbc3/9gZA2r6Dsi"
    "/q35Ik81pKsRqJy/jOlwZLoyHWprDq17py3v77OsGLq9wOH25orODbwWYD+IU2cIIwtSpI"
    "YgxLaue2D7JLe/jEAtG607qgYEFU2hrXNFcGm3DwGtIcs9aSQPxZEsNxJK8iVCKHskpmqu"
    "YA1T4mCwgN9lHeEZnbPb68s39z0BEm4r/sJfhEHrURh8ur78zF9osFHijp6ex2k6rDfnEZ"
    "BC9yEO8gHUr1C3C2G9FtgN2D4hQDsY5QeHu3l1tQHerFUm4A6PIx4gbJsqx0OGNAlzm3Go"
    "tkDpUEclY3irnuipf3GM6FsIqhLWV94kywF/1HkShyPhqc9ftyDkT93BTxiJnNN0qKsY9d"
    "N1TE/rh4BvndEj4LfgN6knOvAahM4s541Bu9FvDd4naFNDxsZShmoYI5/s956vZ9OX0DTj"
    "hGeovCyhpcoJjtE0stomWYvmIk6BGM4cnXFweTc9C9M2FHuBME2zPmtervlRw63esz/Z2k"
    "6xAL+zQa0b0BnrzqBr/LGpUdDU5PwZjzvt9Lnjto7NGdvW1FMusx+z0Pjn1MYKhwU4b+L/"
    "XP6rsafJkzNZnGXqwh394XHt/PR8e+AqJQF0B9MMnP32Mag1d/Qc24I04534qXl+eXN5e3"
    "F9ecuaOB1dU25yYO/0RrG1f6ox25LqzIzQ9wxEwzKVsLF5q7r46yiyoPuW9NOT8OvnyKLe"
    "lXoPfvOQ5W11pS8x0AmF1CbpPo2I7YUDe4d1EWIFJeAPpPcFfnLd6Iu9dqf3UHCl8MXugH"
    "cxwZ2e3B9IDwNxOLwDoZsJbklP/a44Ett3YH05wfdCp8tJ7l/WSui1xK5DWl/Go4NNHKnz"
    "6w38qPO4eQ7cKM6KKpVHRMwiudoo4K7G5bZSqqexskyoGNbN203Abt5mo815sTmk/QfJzy"
    "uKUubRF22WaQ6icoezCWf7NQh/bzYvLm6aZxfXt1eXNzdXt2dry5Bk5ZmIL50HbiUiikia"
    "DTKHzavrIsM8kDjYqnV0QXCAr2FpMw1DXTYhe0MBmBOClTDQUbivzpsb4M1aZQLu8KKImy"
    "xUYTjaOCUIzlxMokJbLSZlW7l37F8iyzIsBpGaYRPfd3eiTyixdWyMe8Nxvy8NmOMi30uD"
    "J2F0B5I07ukMBuP+SL5nLg13doK7CRZ7rcG/+7x1v31/ByK3YW5bao2fxN4o3MSnTfBIku"
    "SuMHhgj19fTjDri3AvynwSdH4Rnb6F7plU50mUxuyR3sUEM89MGg9aotztPHUYI3o/wd+k"
    "wVdxILcGwvCRu2TR+3RvjfuAI3HQE7rcAXSvtvHgLjZZBC6y14CLxBLgjrQFIoRN6yIBUU"
    "KwxKO0tEERpBQtTJrizmUuv2GRynhyO1t6dQQJko0lQ6CIBxETq8JQPkA44qKGvpualRaR"
    "5KfRE8I7yKS/r4JD+svHmzd3SBFVq0i1TV1TnJ2PqWUsimR9U4U/kAQu2Uz7SMo3lEqx0J"
    "YbUlHJekOqLBPLG6a584r5/9Z2Wo9KHmTxLMusKpOSN1o9pxrWyHwrNcdEaz2XWc/uLqpc"
    "bE80IrTLrdHyKvYds5jYsY8jnIT33rCQNsNf0SqRWIlB6m25j9cPOk5YA2owpS24XO/QR4"
    "cV+/3sVyPqhkHCsCW0xcZbdiFENEWYttvgid1/HSAdOr8hE+q+lyCoCNBv+6wSEV8zSkRc"
    "xklefQh63bQ4pCEAxVgsNMqUwQsF+fwjwJH/B3hBJgXEABAQ+5lLPSML0DmkwEIMDIwUSs"
    "BCIwQRgA06ZxgmaxX38YJ3ClcIYlw+5z9Uu5K3jZa6RKckXbzpWN5qxgNun2XXtKz1ldBB"
    "9j5mSKSubElJf72w37HtnoMvW+bNs8awJ/SHj9LoDvhXE+xvAcjMfRs4tRRxygT3hQdRbj"
    "O37w6sL0OSLidyG+L69RgxwgSP+11JaHvSoZtypPZNuEp3ln4eSr2svb21SDzS0BQK/gt0"
    "jRzjPMuBloORn9ePp/BjTit/QDyvXydzskd9dZM5dfhXh3+VCP/2GeE40WBKgONHidnxje"
    "m32HHte7iunnlJLBqpy9/LVf7uaWXzQCEQqMOElDBhqalpFXaZcK7b12imoDlnpmdepIIu"
    "EKjxTMGzaPlnXfVZrOrz2KrIK5IJq6PDHzs69N3MgvFhTKyOEPMjxLAz/8EYMXwq9zihfT"
    "dKjA2uMsWJXoSeEikGsXt2rBgkCnYbLdZxYZniwvpMaRXPlB6Vd3TQfdvqOkd1hdyPUSGn"
    "qWhhGhRhZSW/oFWRMD9FdCfnNEr0Yam9fOlo7eMVPeiZFKzPGyXOhB9LEcuxAAotZa69os"
    "JnwONy1TvCtbNcYIEPYiVXkQ/WglYwpo4ep339OEbrUs+qALTPNME3w3pB1pCFcqm7ymH2"
    "SV7CYOk03Chh0HhE0KLPiBesGktgTJ1PcLoP8D+7eQKmBi9qRcAwuQ4Ni/wN6GyB8tvxQq"
    "pk2exOn7zj9EWeZ7a7ILpE3tgOz8xmpzDmBknxybKx9ttXcLNrL96vmTaUs79tsmmJ9zGA"
    "u2tXtzxHFcsGdZUi9LlvgrZQdFy2eim4KmlasS2Lh/fZW2bZOxZpsvWJ/sTHEV+RRdi7Cc"
    "MJF8kRpInWuYK4RbII2aaOJSJWGVQPUMNSIHGwz5BPQJamzBsp0Z7HOckL9GDQpjQ7wz/K"
    "icMPzvyc/y/BXSyLBFIhkTqW2iyW4pOqAMJe8wqie352tklm4OwsOzPAeanfUk4inH1cLy"
    "RSH9creFzv/2rM3v4HJlFdAA=="
)
