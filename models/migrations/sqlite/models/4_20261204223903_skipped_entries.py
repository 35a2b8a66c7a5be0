from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "upload" ADD "skipped_entries" JSON;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "upload" DROP COLUMN "skipped_entries";"""


MODELS_STATE = (
    "eJztXVlv4zgS/iuCX7YbyASJc25msYDaVhJvO5bhY3p2xgOBkWhbiExpSCru7Gz++5C671"
    "iJbchqvXSkIkuivyLrYlH9V2tlatAgxx0TUWwarRvhrxYCK8gukk1HQgtYVtjACRQ8Gk5f"
    "NdLpkVAMVMrIc2AQyEgaJCrWLaqbiHfuGDahEP+01jUokLVO1SUkR4KJoIDNtWBBLPAxCJ"
    "/g8eJYsLCpQkJ0tBAsYBOofT7mr9FMlb2HUbf2RBvpf9pQoeYC0iXE7Lm//8HIOtLgd0j8"
    "W+tJmevQ0GJQOX9Zo9Oi0BfLoXaWAN86ffl4HxXVNOwViva3XujSRAED+0GcuoAIYkChFo"
    "EQ2Ybhge2T3PEyAsU2DAaqhQQNzoFtcEFwbncMIa2lKAN5ooyliaK0UkLyOSIoeyQmai5g"
    "HVHiYLAC3xUDogVdstvL81f3PSESbi/+wl/EUedeHH26PP/MX2iyWeLOnoHX0naaXp1HAA"
    "rchzjIh1A/A8MuhXXAsB2wfUKIdjjL9w53++JiA7xZr1zAnTaOeIiwbWkcDwXQNMxd1kL1"
    "FcyGOs6ZwFvzWI/9i0NEH0Ogych48RZZAfiT3oM0nogPQ/66FSF/Gg5+4kTiLW2H+pKgfr"
    "pMyCl4iPCtN7kX+K3wmzyQHHhNQhfYeWPYb/Jbi48J2NRUkLlWgBbFyCf7o+f6bP4UWWac"
    "8AjUpzXAmpJqMdtmXt9006q9SlIAAgtHZhxcPkzPwnRN1V5BRLOsT9BWaH60aK+37E++tD"
    "MswO9sUhsmcOa6M+laf2xqFHQtvX6m0143e+24vRNrxrZ17Zjz7MYstP41t5HKYRGcN/F/"
    "zv/d2tHiKVgsjpo6c2d/dF47P73YHrhCSQHdQzQHZ79/AmrdnT2HppAWfBA/tU/Pr86vzy"
    "7Pr1kXZ6AB5aoA9t5gktD9c53ZlkxnZgK/5yAa5amFjS3S6tKvk5hC9y3ppwfx188xpd6X"
    "B3d+94jl7fTlLwnQCQXUJtk+jYTslQN7jw0RIBWm4A+5dwV+Wm8MpUG3N7grqSl8thvBu5"
    "ih3kAZjuS7kTQe3wiRmxnqyA/DvjSRujdCcDlDt2Kvz0nuX9ZLHHSkvkMKLpPRwSaO1Onl"
    "Bn7UadI8h24Ub4oLlUdEzCK50ijhrib53iVUT2JVWVAJrNvXm4Ddvs5Hm7cl1pD+P6g8vl"
    "CYsY6+6ItccxDn259NONmtQfhnu312dtU+Obu8vji/urq4PgksQ7qpyER86d1xKxETRNps"
    "kCVoX1yWmeYhx9601sEFwSG+JtYXOgKGYgH2hhIwpxhrYaDjcF+ctjfAm/XKBdxpiyNusV"
    "CF4WijjCA4V5nEmd6lTKqmubfsX0KMTcwg0nJs4tvuTvwJFbaOrelgPB0O5RFzXJRbefQg"
    "Tm6ENI17OqPRdDhRbplLw52d8G6GpEFn9N8h7z3s3t4Isdtoa1fuTB+kwSTaxafN0ESWlb"
    "44umOPDy5niI1FvJUUvgh6v0jO2CL3jKv3IMlT9kjvYoaYZyZPRx1J6fceeqwhfj9D3+TR"
    "V2mkdEbi+J67ZPH7GRpP5JF4Jym3037/RojeZXty3D+cSKOB2OfOoXv1Hu/ubBMFcZavH8"
    "5S6sGdhStICFvyZYKlFGOFZ3BlAyZAKVxZNMPVy1XNUZbaeHlbU8sGBAQq5pohUMa7SLDV"
    "YSrvIVRxUYPfLR1nRSvFKfYU8xay7G+LYJ++9OHm1B1STNQa1GzL0FVnV2SOzVWZjHAm8w"
    "cSxBVbaR9JB0fSLBi+c7MqztlsVlVlYXnTtHBdsdgAv0/qcc69KM+qrKoqCXkj7TnXkU6W"
    "7xJzgrWRc5XlTCCl7LcS9mvQAmIL61lZl4JcYg5//fzR7WcWLW1eOqkY5akfxjtJJ7pFBE"
    "q5koAY0zYrA6qru97w/FIFK0mE0/DemhjqC/QVvqTyiglIvYqTafCgw4Q1pIYrDYN1UKAS"
    "n1bs97NfDam75MVxR+xKrdf8OqB4hjxrs81ju/06ggZwfkMu1EMvB1YToF93WSQlPedUSL"
    "kNR0XlUfB509qoliio5mqlUyYMXifL1x8RHP6fhSdoUYGYAhCI/ci5HiEW6BJQAUMGBoIq"
    "JcJKJwQSAZl0yTBMl+ru4gVv1G0RyFr5mv9Q6VbRLnKmis7IK3rLsbrFvHvcPc4v6QrklZ"
    "JB/jZ+hKUp7MrI8D6x3/HeLTeft8p7x63xQByO7+XJjeBfzZC/A6awCGXklBIlKTM05FtQ"
    "XRbZ3AjBZYTTbYndRlr9cqQEYYamw74sdj3uyE01dq8s8JLtLP1nLA/ytrYDlmQwratU+L"
    "9g6OQQ11kBtByM4q2r5C5VwmnlD0huXTX5yvxZX998ZRP+NeFfLcK/XUY4TjSYEeD4UWJ+"
    "fGP5PbZ89CN6rIR5SSwaaU5/VOv0hyeVzQOFkKEJEzLChLWuZeWCc+EM+jdoZqC5ZKZnWa"
    "aANGRo8MzAs/RGRVP0XGqX4tAOUdQkE9ZEhz92dOi7mSXjwwRbEyEWR4hRZ/6DMWL0UPph"
    "QvtmlJiYXFWKE70IPSNSDGP3/FgxTBRsN1ps4sIqxYXNkeo6Hqk+KO9or/u29XWOmiLQH6"
    "MIVNfgyjIpROqL8gRfyoT5GaxbKUus0HfVdvKhr8DHK3vOOc3YHKlLfRLhUIpYDgVQgNWl"
    "/gxLVysn+ZqK5Y1ygaUPg+76GGidvudBnnTLYo4J06FYz8q25hfiZLB+qCCnYjN7H/U4qS"
    "TRJuXOvs37YMlzDVNH8Q8jPH8co6CiuS4A7TIb9s3ETxCPKXByc6mUWLT5qCgvtnY6bpQX"
    "a91DgOkj5HXZ5low586Hlt0H+B9XPhLmJq/dhoJpcRmamPyDqaTnoB9XT+nq8K0+ectZuq"
    "IAZHu5ogoFHVv8+kF+pm5pklKH/fz+NdzT3UmQZ2VN5fwvWG16kuEQwN12RFedQ+dVg7pO"
    "iailb4LeIegkb/0yzXWStGpjzLNY+TvD+RtzWbzNt1lSn8B9hpiwdxOGEyqTCstibVJiSY"
    "uECXlPuVaMrTao7qFUq0TiYJchnwixri5bGdGe13JUFOiBsE9lCiB+lIO1H1z5Bf8rjqss"
    "ywRSEZYmltosluKLqgTCXvcaont6crJJZuDkJD8zwNsyv5hfJhkeYWlOpe4uC759Y/b6Nz"
    "ZsQGY="
)
