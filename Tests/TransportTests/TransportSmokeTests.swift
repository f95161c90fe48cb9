import Testing
@testable import Transport

@Test func moduleLinks() {
    #expect(!TransportModule.name.isEmpty)
}
