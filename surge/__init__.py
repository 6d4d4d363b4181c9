"""The surge-rehearsal harness: profiles, and (as it grows) the `surge` command's other parts."""
