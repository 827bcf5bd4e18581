"""The shell fixture env: small shell tasks graded from outside the sandbox."""
