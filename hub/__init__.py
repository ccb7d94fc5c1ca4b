"""Jingkai Hub (经开枢纽): the integration hub behind 网上经开、身边政府."""

__version__ = "0.1.0"
