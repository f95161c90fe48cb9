import Testing
@testable import Transport

@Test func moduleLinks() {
    #expect(!"\(Transport.self)".isEmpty)
}
