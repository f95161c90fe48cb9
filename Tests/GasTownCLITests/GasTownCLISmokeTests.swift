import Testing
@testable import GasTownCLI

@Test func moduleLinks() {
    #expect(!"\(GasTownCLI.self)".isEmpty)
}
