from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "webhook_delivery" (
    "id" CHAR(36) NOT NULL PRIMARY KEY,
    "message_id" VARCHAR(64) NOT NULL,
    "event" VARCHAR(32) NOT NULL,
    "url" TEXT NOT NULL,
    "body" TEXT,
    "attempt" INT NOT NULL,
    "status" VARCHAR(16) NOT NULL /* PENDING: PENDING\nSENDING: SENDING\nDELIVERED: DELIVERED\nFAILED: FAILED\nGAVE_UP: GAVE_UP */,
    "http_status" INT,
    "error" TEXT,
    "created_at" TIMESTAMP NOT NULL,
    "next_attempt_at" TIMESTAMP,
    "upload_id" CHAR(36) NOT NULL REFERENCES "upload" ("id") ON DELETE CASCADE
) /* One attempt (made or planned) to deliver one webhook message of an upload. */;
CREATE INDEX IF NOT EXISTS "idx_webhook_del_message_300345" ON "webhook_delivery" ("message_id");
CREATE INDEX IF NOT EXISTS "idx_webhook_del_next_at_a5fece" ON "webhook_delivery" ("next_attempt_at");
        ALTER TABLE "upload" ADD "webhook_url" TEXT;
        ALTER TABLE "upload" ADD "public_base" VARCHAR(512);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "upload" DROP COLUMN "webhook_url";
        ALTER TABLE "upload" DROP COLUMN "public_base";
        DROP TABLE IF EXISTS "webhook_delivery";"""


MODELS_STATE = (
    "eJztXVtz4jgW/isqXqa7KpNKk+tmtraKBifNdAIUl+7ZGaZcwhbgipE8khyane3/vpJv+E"
    "pwAqxx+yWxj3Rk+zuSzkVH4u/agujIZKdNgjklZu0W/F3DcIHERbzoBNSgZa0LJIHDienU"
    "1UKVJoxTqHFBnkKTIUHSEdOoYXGDYFm5adqMI/rz0tARYEuDa3PETgDBCFCyBBaiQL4DeI"
    "dOZ6fAokRDjBl4BixoM6S/P5WP0YkmniOoO2vRxsZfNlI5mSE+R1S0+8efgmxgHX1DzL+1"
    "ntSpgUw9ApXzXxQ6JSpfWQ61OYf0zqkr33eiasS0Fzhc31rxOcEBg/ggSZ0hjCjkSA9BiG"
    "3T9MD2Se77CgKnNgpeVF8TdDSFtikFIbndd1jTaqra6Q7VgTJU1VpCSD5HCGWPJEQtBWxg"
    "zhwMFvCbaiI843Nxe3Xx3X3OGgm3lnzgl0a/+anRf3d18V4+kIhe4vaejldSd4q+O01ADt"
    "1GHOTXUD9D086FdcCwG7B9whrtdS8/ONz1y8st8Ba1MgF3yiTia4RtS5d4qJAnYW6JEm4s"
    "UDrUUc4Y3rrHeupfHCP6FEG9i82VN8g2gD9sPyqDYeOxJx+3YOwv08GvMVRkSd2hrmLUd1"
    "cxOQWNgK/t4Scgb8Hv3Y7iwEsYn1Hniet6w99r8p2gzYmKyVKFehgjn+y/vZzPpk+hYSYJ"
    "E6g9LSHV1UQJqZOsusmiRX0Rp0AMZ47MJLjyNT0N0yKavUCYp2mfoGyj+tHDtV7SP9nSTt"
    "EAf4hObRLo9HWn09X+3FYpGHpy/IxG7Vb62HFrx8aMbRv6qeTZj1qo/XNqY03CApwnyT8X"
    "/6rtafBsGCzONHXu9v5wv3Y+fbM+cIWSALqNeQbOfv0Y1Ibbe45tQprJl/i5/uHi+uLm/O"
    "riRlRxXjSgXG+Avd0Zxub+qSF0S6oxM0TfMhAN85RCx26a1ZXfhpEJ3dek7x4bv72PTOoP"
    "3c69Xz2keZsP3Y8x0BmH3GbpNo2C7YUDe1u8IsQaSsC/5t4X+Ml5o6d0Wu3Ofc6Zwme7Bd"
    "7FGLc7aq/fve8rg8EtCN2McbP72HtQhkrrFgSXY3zXaD9Ikvtf1Gp0msqDQwou497BNobU"
    "h6st7KgPcfW8NqNkUVSo0iMSGsmVRg5zNc73KqF6EivKgIphXb/ZBuz6TTbasiw2hoz/IH"
    "Wy4ihlHH00ZpnqIMp3OJ1wtl+F8I96/fz8un52fnVzeXF9fXlzFmiGZNEmFfGxfS+1REQQ"
    "SbXB5rB+eZWnm685DjZrHZ0TvMaXUGNmYGiqFhRPyAFzgrEUCjoK9+WH+hZ4i1qZgDtlUc"
    "Qt4aoIHG2c4gRnTiZRpldNJkWbuXdsXyJKCRUQ6Rk68WVzJ9pCgbVjbdQZjHq9bl8YLupd"
    "t//YGN6CJE1aOv3+qDdU74RJI42d9d0YK51m/989WbvXursFkdtwaavbHD0qnWG4ik8b42"
    "G3qz40+vei+eByjMW7NO4UVQ6C9hfFebfQveBqPyrdkWjSuxhjYZl1R/2moj60H9uiIHo/"
    "xl+7/c9KX232G4NP0iSL3qdba9IGHCr9TuNBGoDu1WssuPNtJoHz7DngPDEFuD1tgRgTwz"
    "qPQ5RgLHAvLaxTBDlHC4unmHOZ02+YpTSW3M6mXhNBhlSyFAjksSBibGXoygdwR1zU0DfL"
    "oGkeyeYweoJ5B5H0l0VwSHv5eOPmDikiah3ptmUamrPyMaVkkSfqm8r8hiBwwUbaW0K+oV"
    "AKRa9ckIpyVgtSRRlYXjfdOK6E/U9fJ/Uo50Emz6KMqiIJeavZc2pgg81fJeYYayXnIsuZ"
    "Ic7FtzLxNXiGqEWNtMjKhnhhBn/57NHdRw8tfZo7cBjmKR/GewkZuokCar5l/wjTLlf/iz"
    "t3vWD5JZJS4ggn4b0jFBkz/BmtErHDGKReVskoaOg4YV1T1yONwmWQhBLtVuL7xVcj7g75"
    "xqDZaCm179m5PtEoeNqCmsd297mPTOh8QybUPS8GVhKgv+8zEUp5zsiCcgtONqVAoedt85"
    "9qDaCRxcLgQhgyF1aOPwYc/l/AE7I4YARAwOyJ5JogCvgcckCRAAMjjTOwMBhDDGDC5wLD"
    "ZDruPh7wQm4WQ6JUjvk3pWdtWilOnaJT4orecCxuwu4BV4iz07YCeSVkkL1UH2KpkrdSIr"
    "xP4jteu6zm8xZ5fbg26DR6g0/d4S3wr8bYX+VShYfSd9KF4pQx7jXuFbUlPJtbEFyGON2S"
    "yG2o1E85ihHGeNR76DZaHnfophirVxZcpRtLvw66nazl64Al7kwbGgf/BabBjnGcbYBWgr"
    "F56Sq+ShUzWmUD8aWrKl6Z3evLG6+s3L/K/SuF+7dPD8fxBlMcHN9LzPZvLL/Gjrd3hLeO"
    "CCtJeCPVDo9i7fDwpLK9o7BmqNyEFDdhaehpseBMOIP6FZopaM6F6pnnSRJdM1R4puCZe6"
    "GiSmzOtUpxbBslShIJq7zDH9s79M3MnP5hjK3yEDd7iGFj/o0+Ynjj+XFC+6KXGOtcRfIT"
    "PQ89xVNc++7ZvuI6ULBbb7HyC4vkF1bbpsu4bfqorKODrtuW1ziqkkB/jCRQQ0cLi3CEtZ"
    "X6hFZ53PwU1p2kJRbo7LS9HOYV2Hh59zInGastdYljD44lieVYAIVUmxvPKHe2cpyvylje"
    "KhaYezPovreBlunMjiWazAl5Um1qJiHO3jweYytDTz701nHLnpiGpk4gy3XyUoytDMjvaQ"
    "5JROC2ySX3DYo35pOXMC4XPXXi+e0YBeniZQTInyDFlwqVT423blD46rbXcptblQm2fUZo"
    "47ClhGpTkM2O2cbEutoqelvrYgS8Yz/AuwXUESAUWCbEGOnvASfAa845Ctx7BPBOZgFkCi"
    "AGbrA4uYlhd02P8Rgr8puC9mRxUFeDVPZiwOcIMHlKuV9g6KIRHUyIvvrFKaVkyQCkSJD4"
    "XFLG2IcLmGTm1HbqIS4oTJsj3TYFas52C49o02fBIJrBK7Ak9AnRn5j4FGE4v/UQ9CrqfY"
    "iot9c5UtcRs22bKFd15N7L5nuwn2pbiAOGEmai7H57Qk6v6C3eUNGgPbQ7JPVHHqz9+mVw"
    "gA6NtafgcwQEQxxlSqraXYy14Ku8SXB3t8w78CkDn9JSHtpflL6zH82/TC7v3je+KOqodw"
    "u8i2Is7c45t9QscWany0a5qkNVMw5VzTPDBwzVFJ9/ij+uDIUqf/N2JykKWAwm1dPVrxB9"
    "Cnt1qGOBMxWqzZzVZs6ipOkWdjPnVyd8OBC2GaqlhX9DxScbQ79Oxe0Cvp8QpHyC5HExZC"
    "njqE701WnA/13HEzAl1ImDEkv2B0LZT0BGSf168hiDZLx3py3vOIy6KS9qd85NgXKhdngo"
    "c3YodU5YrgifX78UUagD5J5ZaV05+8cztj1g6RjA3X0QpChn4RYN6jJZnXNfBb1C0HHe8i"
    "XAl0nSmk2pTK7N3rCW7Wak8VZHxid+fe8ZUSaezQROOE+Gbhprlakb10iUsdfsIo+wlQbV"
    "A+wgz5Fyt0+Xr4Gooc1rKd6eV3KyydGD6zqF2Zf5o5z3+caRn+1FeZNlHkcqxFL5Utv5Un"
    "JQ5UDYq15CdD+cnW0TGTg7y44MyLLUH+tNIpx9WGaIpTosM+dhmf9XZfb9f+c0IUM="
)
