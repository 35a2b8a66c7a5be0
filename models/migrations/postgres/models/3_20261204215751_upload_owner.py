from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "upload" ADD "owner" VARCHAR(64);
        CREATE INDEX IF NOT EXISTS "idx_upload_owner_243156" ON "upload" ("owner");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_upload_owner_243156";
        ALTER TABLE "upload" DROP COLUMN "owner";"""


MODELS_STATE = (
    "eJztXVtz4jgW/isqXra7KpNKyHWzW1vlBidhOgGKy/TsDFMuxRbgipE9khw6O5v/vpIv+O"
    "5gAqxx+6VjH+nY4jvSuenI/VdjYWrIoMctEzNiGo0b8FcDwwXiF/GmI9CAlhU0CAKDT4bT"
    "Vw11eqKMQJVx8hQaFHGShqhKdIvpJhadW4ZNGSI/LXUNAbrUmTpH9AiYGAFiLoGFCBBjAJ"
    "/Q8ewYWMRUEaU6ngEL2hRpn4/FazRT5e/h1K090cb6nzZSmDlDbI4If+7vf3CyjjX0HVH/"
    "1npWpjoytAhUzl/e6LQo7NVyqK05JLdOXzHeJ0U1DXuBw/2tVzY38YqB/yBBnSGMCGRIC0"
    "GIbcPwwPZJ7ng5gREbrQaqBQQNTaFtCEEIbncMAa2hKN3eSBnKI0VpJITkc4RQ9khc1ELA"
    "OmbUwWABvysGwjM257eX52/uewIk3F7ihb9Ig9a9NPh0ef5ZvNDks8SdPV2vpek0vTmPgA"
    "y6D3GQD6B+gYZdCOsVw3bA9gkB2sEs3zvczYuLNfDmvTIBd9oE4gHCtqUJPBTIkjC3eQvT"
    "Fygd6ihnDG/NYz32Lw4RfYKg1sPGq7fIcsAfdR7l4Uh67IvXLSj903Dwk0ayaGk61NcY9d"
    "NlTE6rh4BvndE9ELfgt15XduA1KZsR541Bv9FvDTEmaDNTweZSgVoYI5/sj17os+lzaJkJ"
    "whNUn5eQaEqixWyaWX2TTYvmIk6BGM4cmQlwxTA9C9M2VXuBMEuzPqu2XPOjhXu9Z3+ypZ"
    "1iAX7nk9owoTPXnUnX+GNdo6BryfUzHnfa6WvH7R1bM7ata8eCZzdmofHPqY1VAQtw3iT+"
    "Of9XY0eLJ2exOGrqzJ394Xnt/PR8e+AKJQF0B7MMnP3+Mah1d/YcmkKaiUH81Dw9vzq/Pr"
    "s8v+ZdnIGuKFc5sHe6o5jun+rctqQ6MyP0PQPRME8lbGyeVpd/HUUUum9JPz1Kv36OKPWH"
    "XvfO7x6yvK2H3pcY6JRBZtN0n0bG9sKBvcOHCLGKEvAH3LsCP6k3+nK33eneFdQUPtsN8C"
    "4muNNV+oPe3UAeDm9A6GaCW73H/oM8kts3YHU5wbdS50GQ3L+8l9RtyQ8OaXUZjw7WcaRO"
    "L9fwo07j5jlwo0RTVKgiIuIWyZVGAXc1zreRUD2JlWVBxbBuXq8DdvM6G23RFltD+n+Q8v"
    "TKUMo6+qLPMs1BlG9/NuFktwbh783m2dlV8+Ts8vri/Orq4vpkZRmSTXkm4kvnTliJiCCS"
    "ZoPOYfPissg0Dzj2prUOLggO8DWJPtMxNBQL8jcUgDnBWAkDHYX74rS5Bt68VybgTlsUcY"
    "uHKhxHG6cEwZnKJMq0kTIpm+besn+JCDEJh0jLsInvuzvRJ5TYOjbG3eG43+8NuOOi3PYG"
    "j9LoBiRpwtMZDMb9kXLLXRrh7AR3Eyx3W4N/90Xvfvv2BkRuw63tXmv8KHdH4S4+bYJHvZ"
    "7yIA3u+ONXlxPMxyLdyopYBJ1fZGdsoXvO1XmUe2P+SO9igrln1hsPWrLy0Hns8Ibo/QR/"
    "6w2+ygOlNZCG98Ili96ne2vCBxzJg670IBxA92oTD+5sHSVwlq0DzhIqwJ1pC0QpX9ZFAq"
    "IEY4lnaWmDIsgYWlgsxZ3LVL9hlsp4cltTvQaCFCnmkiNQxIOIsVVhKu8hHHFRQ98tnaRF"
    "JPlp9ATzFjLp74tgn/7y4ebNHVJE1BrSbMvQVWfnY0rMRZGsbyrzB5LAJVtpH0n5hlIpBG"
    "24IRXlrDekyrKwvGmau664/082k3qUcy/KsyyrqkxCXkt7TnWs0/lGYo6x1nIus5wpYoz/"
    "Vsp/DZ4hYhE9LbOSky/M4K+eP7r97KGlTQsnDsM81cN4JylDt1BAKbbtH2Ha5u5/eXXXO5"
    "5foigljnAS3luTIH2Gv6LXRO4wBqlXVTJePegwYQ2owUojcLkqQolOK/77+a9GzF3y0rAl"
    "teXGW3atTzQLnrah5rHdfh0gAzq/IRPqvpcDqwjQb7sshJJfMqqg3IajvBIo9LJu/VNDAq"
    "q5WOiMC0PUwor1R4HD/w/wjCwGqAkgoPaT4HpCBLA5ZIAgDgZGKqNgoVOKKMAmm3MMk+W4"
    "u3jBO7VZFPFWseY/VJ6Vt1OcqqJT8orecixvwe4ed4izy7ZW8krIIHurPsRSF2+lZHif+e"
    "/YdFvN5y3z/nBj2JX6w/ve6Ab4VxPs73IpPEIZOOVCccoE96U7WWnzyOYGrC5DnG5L5DbU"
    "6pccxQgTPO4/9KS2xx26KcfulQVf052ln4e9btb29YolHkzrKgP/BYZOD3Gd5UArwMjfuo"
    "rvUsWcVvGA+NZVna/MnvXVzVfW4V8d/lUi/NtlhONEgykBjh8lZsc3lt9jy8c7wkdHuJfE"
    "o5H6hEe5Tnh4Ulk/UAgY6jAhJUxY6lpaLjgTzlX/Gs0UNOfc9MyLFIkGDDWeKXgW3qioC5"
    "sL7VIc2kGJimTC6ujwx44OfTezYHwYY6sjxPwIMezMfzBGDB88P0xo340SY5OrTHGiF6Gn"
    "RIpB7J4dKwaJgu1Gi3VcWKa4sD42XcVj0wflHe1137a6zlFdBPpjFIHqGlpYJkNYfVWe0W"
    "uRMD+FdStliSX6dtpOPua18vGKnmVOMtZH6hKfPTiUIpZDARQSda6/oMLVynG+umJ5rVxg"
    "4cOguz4Geujf7EikJtYpsvU17QcLbSuYsIgex3/5OEarOtqqALTLHMw3kzwjMuRxcuqWfb"
    "j5KC8bs3Q6rpWNadwjSNgTEtXA5hKYU+cTvu4D/M/2HoGpKSqGETAtIUOT0L8Bg2t/v5+o"
    "UkvWJG/1yVvODeW5vdvLUJTI1d3imfvs/NDcpIWOmPn9K7iTuJPQwkqbytnfRlq3fv4QwN"
    "12HFGeo85lg7pK6Y+5b4I2EHSct3r5zSpJWrUJEbmT7P3I7O2gNN76iyCJj6u+IEL5uynH"
    "CRdJwKSx1omYuEUilG5SJBRhqwyqeygQKpA42GXIJyGiq/NGSrTntRzlBXow6FOabfcf5T"
    "jnB1d+zv+34irLIoFUiKWOpdaLpcSiKoCw172C6J6enKyTGTg5yc4MiLbUb7EnEc4+Cxli"
    "qc9CFjwL+X81Zm//A38BuYc="
)
