"""Co-application networks, region centralities, location quotients and AI clusters
(study 1: "Steps for identification", "Moderating variable", Table 1, Figs 2, 3, 5).

Modules: ``edges`` (pairs per cooperative patent, org/region edges, Table 1 counts),
``centrality`` (region-year centralities with igraph; explicit closeness conventions),
``graph`` (organisation graph: GraphFrames or the DataFrame engine), ``lq`` (Eq. 1,
percentile thresholds, clusters, sensitivity), ``export`` (GEXF/GraphML), ``job`` (the
``network`` stage).
"""
