"""Live state in Redis: key names, and readers/writers of registration and call state."""
