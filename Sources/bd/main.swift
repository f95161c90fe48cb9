import GasTownCLI
print("bd version \(GasTownVersion.current)")
