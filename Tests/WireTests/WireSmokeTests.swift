import Testing
@testable import Wire

@Test func moduleLinks() {
    #expect(!"\(Wire.self)".isEmpty)
}
