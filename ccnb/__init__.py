"""ccnb: parameterised notebooks for customer-centric marketing analysis."""

__version__ = "0.1.0"
