"""anchormix.model"""
