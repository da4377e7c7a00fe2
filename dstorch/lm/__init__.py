"""Language models: the KenLM scorer package, its vocabulary FST and the command-strict ARPA."""
