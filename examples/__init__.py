"""Examples that run against the project: a CI capacity gate, a lane settings file, a binding."""
