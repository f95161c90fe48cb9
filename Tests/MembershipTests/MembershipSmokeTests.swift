import Testing
@testable import Membership

@Test func moduleLinks() {
    #expect(!"\(Membership.self)".isEmpty)
}
