"""Device identity, discovery on the store LAN, pairing and the provisioning bundle."""
