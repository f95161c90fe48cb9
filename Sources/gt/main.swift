import GasTownCLI
print("gt version \(GasTownVersion.current)")
