"""What every part uses: settings and where state lives, counters, errors, file helpers."""
