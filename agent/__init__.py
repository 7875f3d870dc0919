"""anchormix.agent"""
