def main() -> None:
    raise SystemExit("edgead CLI: not yet built")
