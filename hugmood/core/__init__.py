"""Infrastructure every feature stands on: settings, errors, logs, keys, pools, batching."""
