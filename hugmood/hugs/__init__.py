"""Hugs: sending, requests, receipts and history."""
