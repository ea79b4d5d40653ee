"""Everything that scopes data to an organization: the security boundary of RevOps Hub."""
