"""The OpenStack driver (openstacksdk): a department is a Keystone project with quotas and a network."""

from provisioners.openstack.driver import OpenStackDriver

__all__ = ["OpenStackDriver"]
