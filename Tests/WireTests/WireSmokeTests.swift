import Testing
@testable import Wire

@Test func moduleLinks() {
    #expect(!WireModule.name.isEmpty)
}
