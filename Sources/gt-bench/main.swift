import GasTownCLI
print("gt-bench \(GasTownVersion.current)")
