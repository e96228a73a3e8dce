"""Monthly wait-time reports and the agreement's money, built on classified contacts."""
