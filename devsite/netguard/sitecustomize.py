"""Installs the loopback-only sandbox in every Python process started with
this folder on PYTHONPATH (see loopback_only.py)."""
import loopback_only

loopback_only.install()
