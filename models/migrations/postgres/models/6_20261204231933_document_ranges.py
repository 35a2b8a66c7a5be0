from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "document_range" (
    "id" UUID NOT NULL PRIMARY KEY,
    "first_page" INT NOT NULL,
    "last_page" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL,
    "error_code" VARCHAR(32),
    "error_message" TEXT,
    "attempts" INT NOT NULL,
    "lease_owner" VARCHAR(128),
    "lease_expires" TIMESTAMPTZ,
    "finished_at" TIMESTAMPTZ,
    "document_id" UUID NOT NULL REFERENCES "document" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_document_ra_documen_6dac64" UNIQUE ("document_id", "first_page")
);
CREATE INDEX IF NOT EXISTS "idx_document_ra_status_e101b8" ON "document_range" ("status");
CREATE INDEX IF NOT EXISTS "idx_document_ra_lease_e_bfa860" ON "document_range" ("lease_expires");
COMMENT ON COLUMN "document_range"."status" IS 'PENDING: PENDING\nIN_PROGRESS: IN_PROGRESS\nCOMPLETED: COMPLETED\nFAILED: FAILED\nCANCELLED: CANCELLED';
COMMENT ON COLUMN "document_range"."error_code" IS 'UNSUPPORTED_FORMAT: UNSUPPORTED_FORMAT\nCORRUPT_FILE: CORRUPT_FILE\nENCRYPTED_PDF: ENCRYPTED_PDF\nENCRYPTED_DOCUMENT: ENCRYPTED_DOCUMENT\nTOO_LARGE: TOO_LARGE\nUNSAFE_ARCHIVE: UNSAFE_ARCHIVE\nTIMEOUT: TIMEOUT\nRESOURCE_LIMIT: RESOURCE_LIMIT\nWORKER_CRASHED: WORKER_CRASHED\nSTORAGE_FULL: STORAGE_FULL\nCANCELLED: CANCELLED\nINTERNAL: INTERNAL';
COMMENT ON TABLE "document_range" IS 'Pages first..last of a big PDF, converted as a task of its own under its own lease.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "document_range";"""


MODELS_STATE = (
    "eJztXWtz4jgW/Ssqvkx3VSaVJs/NbG0VDU6abQIUj+7ZGaZcAgtwxcgeSQ7NzvZ/X0l+4C"
    "fB4THG7S+JfaUrm6PXvUdX8l+Vhakhg57XTcyIaVTuwV8VDBeIX0STzkAFWtY6QQgYHBsy"
    "7ySQaUwZgRPGxVNoUMRFGqIToltMN7HIXDdsyhD5ealrCNClziZzRM+AiREg5hJYiADxDu"
    "AdOp+dA4uYE0SpjmfAgjZF2vtz8RjNnPDncOneSrSx/qeNVGbOEJsjwsv9/Q8u1rGGviHq"
    "3VrP6lRHhhaCSv7niTJFZStLSutzSB5kXvG+Y3ViGvYCB/NbKzY3sa/Af5CQzhBGBDKkBS"
    "DEtmG4YHsi5325gBEb+S+qrQUamkLbEBUhtJ13WMsqqtruDNS+MlDVSqySPI0Ayq6IV7Wo"
    "YB0zKjFYwG+qgfCMzfntzdV35zlrJJxc4oFfar36p1rv3c3Ve/FAk7cSp/W03ZSqTPoui4"
    "AMOoVI5NdQv0DDzoS1r7AfsD3BGu11Kz863NXr6y3w5rlSAZdpAvE1wralCTxUyOIwN3gK"
    "0xcoGeqwZgRvzVU99y5OEX2CoNbBxsrtZBvAHzSflP6g9tQVj1tQ+qch8asNFJFSldJVRP"
    "ruJlJPfiHga3PwCYhb8FunrUh4TcpmRD5xnW/wW0W8E7SZqWJzqUItiJEn9t5ejGfT50A3"
    "E4IxnDwvIdHUWIpZNdPyxpMW1UVUAjGcyToT4IrXdGeYhjmxFwizpNnHT9s4/WjBXK/NP+"
    "m1nTAD/M4btWFC2dZlo6v8se2koGvx/jMcNhvJfcfJHekztq1r50LnMNNC5Z9TG08ELEA+"
    "Sfy5+lflQJ1nQ2eRw9Sl0/qD7Vr+9M3zgVMpMaCbmKXg7OWPQK07refUBqSZeImfqx+ubq"
    "/uLm+u7ngW+aK+5HYD7M32IDL2T3U+tyQaMwP0LQXRoE4h5thNo7ry6yA0oHsz6bun2q/v"
    "Q4N6q9N+9LIHZt56q/MxAjplkNk02aZRsL2QsDf5K0I8QTH419qHAj8+bnSVdqPZfsw4Un"
    "hq98C9GOFmW+32Oo89pd+/B4GbEa53nrotZaA07oF/OcIPtWZLiJz/PFetXVdaUuRfRr2D"
    "bQypDzdb2FEfotPz2owSSeFKFR4Rn5Gc2shgrkb13lSpbo3lpUNFsK7ebQN29S4dbZEW6U"
    "P6f5E6XjGU0I8+6rPU6SCsd7w54eKwE8I/qtXLy9vqxeXN3fXV7e313YU/M8STNk0RH5uP"
    "YpYIVUR82qBzWL2+ydLM1xpHG7VOzgle42sSfaZjaKgW5E/IAHNMsRATdBju6w/VLfDmuV"
    "IBl2lhxC3uqnAcbZzgBKcOJmGlNw0meRu592xfIkJMwiHSUubE182dcAk5nh0rw3Z/2O12"
    "etxwUR86vafa4B7EZcLS6fWG3YH6wE0aYeys70ZYadd7/+mK3N3Gwz0I3QZTG5368ElpD4"
    "JZPNkIDzodtVXrPfLi/csR5u9Se1BU0QmaXxT5boF7rtV8UjpDXqR7McLcMusMe3VFbTWf"
    "mjwhfD/CXzu9z0pPrfdq/U/CJAvfj3B/0OnVHhX1Ydhq3YPgXbIlJ+zDgdJr11rCOHSu3m"
    "LdXW4zQFymjw+XseHBaYULRCnv8lmcpZhijltwbh0myBhaWCzB1EsdmoMqhbHy9jYsGwhS"
    "pJpLjkAW6yKiVoSmfARXxUENfbN0kuStbKbYY8p7YNlfr4Jj2tKny6lLUaiqNaTZlqFP5K"
    "rIlJiLLIxwovIOBHHOetoudHCAZiHojYtVYc1ysSovHcttphv7FfcNyNtqPax5lMEzL70q"
    "T5W81eg51bFO52+q5ohqWc95rmeKGOO/lfJfg2eIWERPYl02cIkp+sWzR/fPLFraNDOpGN"
    "QpHsYHoROdIAI1W0hASGmfkQH5HbtesfxiAStRhOPwPpgE6TP8Ga1ivGIEUjfiZOgXdJqw"
    "rqXrnkbg0g9QCTcr/vv5r0bM6fK1fr3WUCrf0+OA1oATyAfbpNU2V+/hcw8ZUP6IVKy96J"
    "6eKKtAkMeWEnbEqQuLBc8xosmcNrUhpMxvdK/HlanEz/tqdLOoKwqmOqHs/NyAlAFzCiAY"
    "6zPQbTycAY7GCxI+CICUyxmkzyKHzigwlxjYvKqIfyfpnni884GekRj/Foytk09URYMuw+"
    "DyFQYXqJkY2qmkeFipDIhLYsZhdlhDOiWqSfEiZcRb8SLeyrX9cm2/XNsv1/bLtf1czbXl"
    "2n65tl+u7ZerU3mZNE6tnn0OKBuREVEr6fvN9H2YZdqJwA9uGT1NaF+l8CONKyuJf0j6VX"
    "lJ2cnrJJxtolvRy7Z7eCs1MDEXC50JjtMipmhoFEj9X8AzshigJoCA2mOhNUYEsDlkgCAO"
    "LUYTRsFCpxRRgE025zUSp1gP8YBX9hdTxFNF096JW9202ylxLEqwkd02txuteng+6ii7nN"
    "I5V7++tndVgiolM5jgrTzz3/FW+sjTzfMep0q/Xev2P3UG98C7GmGPzVG5rdKTBGBUMsJd"
    "Qac0uI1zD/zLgKaTEroNpHokYkQwwsNuq1NruNqBm3wwMRZcJS/q/7vfaadtwfJVoma1Pm"
    "Hgf8DQ6Sn2sw3QCjA20zBRxiVinYkCojRMGVeb3uqLG1dbhimVYUp58XF2ClM6pIcjg3ES"
    "HBwvSCfdv/HWhPd9RFHQeeZWEvdGyvCMfIVnuLWyvaOwVijdhAQ3YalrSTHLqXD6+Us0E9"
    "Cc86lnnuWgg7VCiWcCnpkD6svDOTJF05/aYT8FYcJK7/DH9g7LlbByJezI0J7ySpjroSd4"
    "imvfPd1XXBMF+/UWS78wT35hGQhdwEDo07KOjrpuW1zjqAwH+zHCwXQNLSyTITxZqc9olc"
    "XNT1DdS1htjr7/cZAPUvg2XtbzOOOKZXh4bCvWqQSxnAqgkEzm+gvKfKpGVK94EfcH4QIz"
    "b2w49JaGIp07vUTjuWk+qzYx4hCnb4SKqBWhJR97G5Rljw19oo4hzfT1gIhaEZA/xnrCs2"
    "5Z3P7mpgLRkxYV0uPNElR3ijvLGfjHCDuLcaHbnD7jmXZ7OoCmQAxpeC/ry+4Y+YH7RQTI"
    "m6r4L+XGV3LvzwLWV6e8hlPcqkiwHZIrj8KWQJonIJvOnkeqdbUVj17pYATczcTg3QJqCJ"
    "gEWAbEGGnvATOBW5z8sKj7CODu95Yn8GDg0Pbx7ST7K3qER1gRv8kvT5794+WdQCJaMWBz"
    "BKj45qmXoGu8EA2MTW31i0wl5pICSBAXsbmQjLAHFzDMmcwt8yHGJXQyR5ptcNTkxhdXaJ"
    "MXrsCLwSuwNMkzIj9R/lO4C7PrJ1XL9YdjrD+4jSNxRTfdygxrlR/wed2R8ne2bQuxr1DA"
    "mKD9bxTJ6J/u4pfmDdpjO6Zi/siCtZe/CK7o33QWSgZqNqBRpPC2H+bgsTi4+1tw73uSvi"
    "dpKK3mF6UndwZ6l/GF9sfaF0Uddu+BexG1bf+eRfY5Y5aaVp3pgcthrfITbSmfaMsywvsK"
    "5RCffYg/rViRMpL2fi/BIph3JtWdq99Q9Qnq5VFROY4ZKbfVlttq8xIwndtttV8lfdjnth"
    "mqJNG/geSzjdSvzLgd4fsJQcLGSBzcYy4FjyrZV1mAOPRngig9A1OTSB7UtER7MAn9CQiW"
    "1MsnFvbifO9eS94zjbopQm1/zk2OotL2eNRjOpU6N2kmhs/LXwgW6ghRgFZSU07/FPe2R1"
    "2dArj7J0Hy8vW8vEFdJKtz7k1Bb6joqG7xtiIUqaYnNiEizDl962C6m5GkW35kNkLSyM/p"
    "UP5synHCWWKlk1TLmOnojEQofct+/pBaYVA9wl7+DCF3h3T5aojok3klwdtzU842OXpwnS"
    "c3O2R/lJNXd+z56V6UO1hmcaQCKqUvtZ0vJTpVBoTd7AVE98PFxTbMwMVFOjMg0mLmAku0"
    "wtLDyAMq5bGlh4sf3/9k9v3/q2vl7Q=="
)
