from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "document" ADD "settings_fingerprint" VARCHAR(64);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "document" DROP COLUMN "settings_fingerprint";"""


MODELS_STATE = (
    "eJztXetz4jgS/1dUfLmZqmwqIc/LXV2VB5yEnQQoHjt7u2y5FFuAK0b2SnKY3F7+95P8wG"
    "8HE+CMx18mdktti1+r1Q+1PH81FqaGDHrcMjEjptG4AX81MFwgfhFvOgINaFlBgyAw+GQ4"
    "fdVQpyfKCFQZJ0+hQREnaYiqRLeYbmLRuWXYlCHy01LXEKBLnalzRI+AiREg5hJYiAAxBv"
    "AJHc+OgUVMFVGq4xmwoE2R9vlYvEYzVf4eTt3aE22s/2kjhZkzxOaI8Of+/gcn61hD3xH1"
    "b61nZaojQ4tA5fzljU6Lwl4th9qaQ3Lr9BXjfVJU07AXONzfemVzE68Y+A8S1BnCiECGtB"
    "CE2DYMD2yf5I6XExix0WqgWkDQ0BTahhCE4HbHENAaitLtjZShPFKURkJIPkcIZY/ERS0E"
    "rGNGHQwW8LtiIDxjc357ef7mvidAwu0lXviLNGjdS4NPl+efxQtNPkvc2dP1WppO05vzCM"
    "ig+xAH+QDqF2jYhbBeMWwHbJ8QoB3M8r3D3by4WANv3isTcKdNIB4gbFuawEOBLAlzm7cw"
    "fYHSoY5yxvDWPNZj/+IQ0ScIaj1svHpKlgP+qPMoD0fSY1+8bkHpn4aDnzSSRUvTob7GqJ"
    "8uY3JaPQR864zugbgFv/W6sgOvSdmMOG8M+o1+a4gxQZuZCjaXCtTCGPlkf/RiPZs+h9RM"
    "EJ6g+ryERFMSLWbTzOqbbFo0F3EKxHDmyEyAK4bpWZi2qdoLhFma9Vm15ZofLdzrPfuTLe"
    "0UC/A7n9SGCZ257ky6xh/rGgVdS+rPeNxpp+uO2zumM7ata8eCZzdmofHPqY1VAQtw3iT+"
    "Of9XY0fKk6MszjJ15s7+8Lx2fnq+PXCFkgC6g1kGzn7/GNS6O3sObUGaiUH81Dw9vzq/Pr"
    "s8v+ZdnIGuKFc5sHe6o9jaP9W5bUl1ZkboewaiYZ5K2Ni8VV3+dRRZ0H1L+ulR+vVzZFF/"
    "6HXv/O4hy9t66H2JgU4ZZDZN92lkbC8c2Dt8iBCrKAF/wL0r8JPrRl/utjvdu4Irhc92A7"
    "yLCe50lf6gdzeQh8MbELqZ4Fbvsf8gj+T2DVhdTvCt1HkQJPcv7yV1W/KDQ1pdxqODdRyp"
    "08s1/KjTuHkO3CjRFBWqiIi4RXKlUcBdjfNtJFRPYmVRqBjWzet1wG5eZ6Mt2mI6pP8HKU"
    "+vDKXo0Rd9lmkOonz7swknuzUIf282z86umidnl9cX51dXF9cnK8uQbMozEV86d8JKRASR"
    "NBt0DpsXl0WmecCxt1Xr4ILgAF+T6DMdQ0OxIH9DAZgTjJUw0FG4L06ba+DNe2UC7rRFEb"
    "d4qMJxtHFKEJy5mESZNlpMyrZyb9m/RISYhEOkZdjE992d6BNKbB0b4+5w3O/3BtxxUW57"
    "g0dpdAOSNOHpDAbj/ki55S6NcHaCuwmWu63Bv/uid799ewMit+HWdq81fpS7o3AXnzbBo1"
    "5PeZAGd/zxq8sJ5mORbmVFKEHnF9kZW+iec3Ue5d6YP9K7mGDumfXGg5asPHQeO7whej/B"
    "33qDr/JAaQ2k4b1wyaL36d6a8AFH8qArPQgH0L3axIM7W2cROMteA84SS4A70xaIUq7WRQ"
    "KiBGOJZ2lpgyLIGFpYLMWdy1x+wyyV8eS2tvQaCFKkmEuOQBEPIsZWham8h3DERQ19t3SS"
    "FpHkp9ETzFvIpL8vgn36y4ebN3dIEVFrSLMtQ1ednY8pMRdFsr6pzB9IApdM0z6S8g2lUg"
    "jacEMqyllvSJVFsbxpmqtX3P8nm0k9yrmXxbMsWlUmIa+1ek51rNP5RmKOsdZyLrOcKWKM"
    "/1bKfw2eIWIRPS2zkpMvzOCvnj+6/eyhu4OtFNuPjjBtc1u6vEr1jkuSqJaII5yE99YkSJ"
    "/hr+g1kdSKQeqVO4xXDzpMWANqoGYELlfVEdFpxX8//9WIubovDVtSW268ZRehRNOzaTs9"
    "Htvt1wEyoPMbMqHue8mZigD9tssKHfklozzHbTjKq81BL+sW5jQkoJqLhc64MESRptA/Ch"
    "z+f4BnZDFATQABtZ8E1xMigM0hAwRxMDBSGQULnVJEATbZnGOYrBPdxQveKRqiiLcKnf9Q"
    "3VDeFmbqEp2S8PLUsbyVpHvcusyuJ1rJKyGD7D3kEEtdVZSSenzmv2PT/R6ft8wbl41hV+"
    "oP73ujG+BfTbC//aJw13ng1LHEKRPcl+5kpc1d7huwugxxui2R21CrXwsTI0zwuP/Qk9oe"
    "d+imHNsqFnxNd5Z+Hva6WfuqK5Z4lKerDPwXGDo9RD3LgVaAkb+nEt8+iTmt4gHxPZU6kZ"
    "Y966ubSKvDvzr8q0T4t8sIx4kGUwIcP0rMjm8sv8eWzx2EzzRwL4lHI/XRg3IdPfCksn6g"
    "EDDUYUJKmLDUtbTqxkw4V/1rNFPQnHPTMy9SvRgw1Him4Fm09LauuC1WcXtoFfwVyYTV0e"
    "GPHR36bmbB+DDGVkeI+RFi2Jn/YIwYPhF9mNC+GyXGJleZ4kQvQk+JFIPYPTtWDBIF240W"
    "67iwTHFhfZ63iud5D8o72uu+bXWdo7o68ceoTtQ1tLBMhrD6qjyj1yJhfgrrVmoSS/RRr5"
    "18ZWrl4xU9ZJtkrM96Jc7jH0oRy6EACok6119Q4fP3cb7qlStvLRdY4GNkyVXkg7WgFYyp"
    "o0eZXz6O0arUsyoA7TJN8M0kz4gMeSiXuqscbj7KSxgsnY5rJQwa9wgS9oREwaq5BObU+f"
    "yp+wD/k6dHYGqKolYETEvI0CT0b8DgC5TfTxRSJctmt/rkLacv8jyz7QXRJfLGtnheOTuF"
    "MTdpoeM5fv8KbnbtxPu10qZy9ndl1i3xPgRwt+3qlueYaNmgrlKEPvdN0AaCjvNWLwVXJU"
    "mrNiEivM/eMsvesUjjrb+mkPgw5QsilL+bcpxwkRxBGmudK4hbJELpJnUsEbbKoLqHGpYC"
    "iYNdhnwSIro6b6REe17LUV6gB4M+pdkZ/lFOHH5Q83P+rwp3sSwSSIVY6lhqvVhKKFUBhL"
    "3uFUT39ORknczAyUl2ZkC0pX7HOolw9nG9EEt9XK/gcb3/qzF7+x/rzti9"
)
