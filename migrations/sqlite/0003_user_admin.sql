-- Finding a Forwarder Service Account's token, and counting an organization's admins.
CREATE INDEX users_org_role ON users (organization_id, role, status);
