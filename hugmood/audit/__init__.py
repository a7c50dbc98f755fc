"""The append-only audit log of admin changes (the `audit_log` table)."""
