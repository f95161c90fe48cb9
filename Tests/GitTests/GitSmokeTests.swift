import Testing
@testable import Git

@Test func moduleLinks() {
    #expect(!"\(Git.self)".isEmpty)
}
