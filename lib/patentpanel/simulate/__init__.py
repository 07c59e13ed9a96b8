"""Raw-export simulator: DGP (dgp, entities, plan), other inputs, truth manifest and the
`simulate` stage (job); rendering of the raw layouts lives in render/numbers/text/addresses."""
