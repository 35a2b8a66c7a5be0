"""`make bench`: pagemill's conversion, throughput, API and subscription benchmark."""
