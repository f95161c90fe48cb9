import Testing
@testable import Git

@Test func moduleLinks() {
    #expect(!GitModule.name.isEmpty)
}
