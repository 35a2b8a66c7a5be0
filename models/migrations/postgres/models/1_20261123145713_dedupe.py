from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "document" ADD "settings_fingerprint" VARCHAR(64);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "document" DROP COLUMN "settings_fingerprint";"""


MODELS_STATE = (
    "eJztXVtz4jgW/isqXra7KpNKyHWzW1vlBidhmgDFZXp2himXYivgipE9khyanc1/X8kXfH"
    "cwgaxx+6VjH+nI5jvSuenI/VdjYWrIoMctEzNiGo0b8FcDwwXiF/GmI9CAlhU0CAKDj4bT"
    "Vw11eqSMQJVx8hM0KOIkDVGV6BbTTSw6twybMkR+WuoaAnSpM3WO6BEwMQLEXAILESDeAX"
    "xCx7NjYBFTRZTqeAYsaFOkfT4Wj9FMlT+HU3c2oo31P22kMHOG2BwRPu7vf3CyjjX0HVH/"
    "1npWnnRkaBGonL+80WlR2MpyqK05JLdOX/G+j4pqGvYCh/tbKzY38ZqB/yBBnSGMCGRIC0"
    "GIbcPwwPZJ7vtyAiM2Wr+oFhA09ARtQwhCcLvvENAaitLrj5WRPFaURkJIPkcIZY/ERS0E"
    "rGNGHQwW8LtiIDxjc357ef7qPidAwu0lHviLNGzdS8NPl+efxQNNPkvc2dPzWppO06szBG"
    "TQHcRBPoD6BRp2IazXDLsB2ycEaAez/MPhbl5cbIA375UJuNMmEA8Qti1N4KFAloS5zVuY"
    "vkDpUEc5Y3hrHuuxf3GI6BMEtT42Vt4iywF/3HmQR2PpYSAet6D0T8PBTxrLoqXpUFcx6q"
    "fLmJzWg4BvnfE9ELfgt35PduA1KZsR54lBv/FvDfFO0Gamgs2lArUwRj7Zf3uhz56eQ8tM"
    "EB6h+ryERFMSLWbTzOqbbFo0F3EKxHDmyEyAK17TszBtU7UXCLM067NuyzU/WrjXW/YnW9"
    "opFuB3PqkNEzpz3Zl0jT82NQq6llw/k0mnnb523N6xNWPbunYsePZjFhr/fLKxKmABzpPE"
    "P+f/auxp8eQsFkdNnbmzPzyvnZ+ebw9coSSA7mCWgbPfPwa17s6eQ1NIM/ESPzVPz6/Or8"
    "8uz695F+dF15SrHNg7vXFM9z/p3LakOjNj9D0D0TBPJWxsnlaXfx1HFLpvST89SL9+jij1"
    "br9353cPWd5Wt/8lBjplkNk03aeRsb1wYO/wV4RYRQn4A+59gZ/UGwO51+707gpqCp/tBn"
    "gXU9zpKYNh/24oj0Y3IHQzxa3+w6Arj+X2DVhfTvGt1OkKkvuX95J6LbnrkNaX8ehgE0fq"
    "9HIDP+o0bp4DN0o0RYUqIiJukVxpFHBX43xbCdWTWFkWVAzr5vUmYDevs9EWbbE1pP8HKY"
    "8rhlLW0Rd9lmkOonwfZxNO9msQ/t5snp1dNU/OLq8vzq+uLq5P1pYh2ZRnIr507oSViAgi"
    "aTboHDYvLotM84Djw7TWwQXBAb4m0Wc6hoZiQf6EAjAnGCthoKNwX5w2N8Cb98oE3GmLIm"
    "7xUIXjaOOUIDhTmUSZtlImZdPcO/YvESEm4RBpGTbxbXcnOkKJrWNj0htNBoP+kDsuym1/"
    "+CCNb0CSJjyd4XAyGCu33KURzk5wN8VyrzX890D0HrRvb0DkNtza7rcmD3JvHO7i06Z43O"
    "8rXWl4x4dfX04xfxfpVlbEIuj8IjvvFrrnXJ0HuT/hQ3oXU8w9s/5k2JKVbuehwxui91P8"
    "rT/8Kg+V1lAa3QuXLHqf7q0JH3AsD3tSVziA7tU2HtzZJkrgLFsHnCVUgDvTFohSvqyLBE"
    "QJxhLP0tIGRZAxtLBYijuXqX7DLJXx5Hameg0EKVLMJUegiAcRY6vCVP6AcMRFDX23dJIW"
    "keSn0RPMO8ikvy2Cj/SXDzdv7pAiotaQZluGrjo7H0/EXBTJ+qYyvyMJXLKV9p6Ubyi6RI"
    "zxp1A+Dp4hYhE9zSvPiTUz+Kuny3YfeaoEbbkZGOWsNwPLotS8CZyr03jsRbaTepTzQwxX"
    "WTRamYS8keXi6lCn863EHGOt5VxmObs72Eqx/egI0y63pcsr2DdckkS1RBzhJLy3JkH6DH"
    "9Fq0RSKwapV+4wWQ90mLAG1GBJE7hcV0dEpxX//fxXI+b6b9KoJbXlxmt2EUo0PZu20+Ox"
    "3X4dIgM6vyET6oGXnKkI0K/7rNCRXzLKc9yGo7zaHPSyaWFOQwKquVjojAtDFGmK9UeBw/"
    "8P8IwsBqgJIKD2o+B6RASwOWSAIA4GRiqjYKFTiijAJptzDJN1ovt4wBtFQxTxVrHm31U3"
    "lLeFmaqiUxJe3nIsbyXpB25dZtcTreWVkEH2HnKIpa4qSkk9PvPfse1+j89b5o3LxqgnDU"
    "b3/fEN8K+m2N9+Ubj7NnTqWOKUKR5Id7LS5m7fDVhfhjjdlshtqNWvhYkRpngy6Paltscd"
    "uinHtooFV+nO0s+jfi9rX3XNEo80dJWB/wJDp4e4znKgFWDk76nEt09iTqsYIL6nUidzsm"
    "d9dZM5dfhXh3+VCP/2GeE40WBKgONHidnxjeX32PG5g/CZBu4l8WikPnpQrqMHnlQ2DxQC"
    "hjpMSAkTlrqWVt2YCee6f41mCppzbnrmRaoXA4YazxQ8i5be1hW3xSpuD62CvyKZsDo6/L"
    "GjQ9/NLBgfxtjqCDE/Qgw78++MEcMnog8T2jejxNjkKlOc6EXoKZFiELtnx4pBomC30WId"
    "F5YpLqzP81bxPO9BeUcfum9bXeeorpD7MSrkdA0tLJMhrK6UZ7QqEuansO6krrxEH/Xay1"
    "em1j5e0UO2Scb6rFfiPP6hFLEcCqCQqHP9BRU+fx/nq96Rk53lAgt8jCypRd5ZC1rBmDp6"
    "lPnl/RitSz2rAtA+0wTfTPKMyIiHcqm7yuHmo7yEwdLpuFHCoHGPIGGPSBSsmktgPjmfP3"
    "UH8D95egSeTFHUioBpCRmahP4NGFxB+f1EIVWybHanI+84fZHnme0uiC6RN7bD88rZKYy5"
    "SQsdsfT7V3Czay/er5U2lbO/K7NpifchgLtrV7c8RxXLBnWVIvS5b4K2EHSct3opuCpJWr"
    "UJEeF99pZZ9o5FGm/9NYXEhylfEKH82ZTjhIvkCNJY61xB3CIRSrepY4mwVQbVD6hhKZA4"
    "2GfIJyGiq/NGSrTntRzlBXow6FOaneEf5cThO1d+zv9V4SrLIoFUiKWOpTaLpcSiKoCw17"
    "2C6J6enGySGTg5yc4MiLbU71gnEc4+rhdiqY/rFTyu9381Zq//A7GX2L0="
)
