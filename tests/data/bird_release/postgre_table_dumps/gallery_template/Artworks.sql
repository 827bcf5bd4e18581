--
-- PostgreSQL database dump
--

-- Dumped from database version 14.12 (Debian 14.12-1.pgdg120+1)
-- Dumped by pg_dump version 14.12 (Debian 14.12-1.pgdg120+1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: Artworks; Type: TABLE; Schema: public; Owner: root
--

CREATE TABLE public."Artworks" (
    "ArtworkID" integer NOT NULL,
    "ArtistRef" integer,
    "Title" text NOT NULL,
    "Medium" text,
    "ListPrice" numeric(10,2),
    created date
);


ALTER TABLE public."Artworks" OWNER TO root;

--
-- Data for Name: Artworks; Type: TABLE DATA; Schema: public; Owner: root
--

COPY public."Artworks" ("ArtworkID", "ArtistRef", "Title", "Medium", "ListPrice", created) FROM stdin;
101	1	Harmattan Light	oil	4200.00	2015-03-02
102	1	Lagos Tide	acrylic	1800.50	2018-07-19
103	2	North Ledger	etching	950.00	2001-11-30
104	2	Fjord, Again	oil	6100.00	2010-05-05
105	3	Paper Rivers	ink\\wash	2750.25	2019-01-14
106	4	Samba Noise	mixed	3300.00	2016-09-09
107	5	Quiet Hours	photograph	1200.00	\N
108	3	Ink Harbour	ink	5000.00	2021-06-01
\.


--
-- Name: Artworks Artworks_pkey; Type: CONSTRAINT; Schema: public; Owner: root
--

ALTER TABLE ONLY public."Artworks"
    ADD CONSTRAINT "Artworks_pkey" PRIMARY KEY ("ArtworkID");


--
-- Name: Artworks Artworks_ArtistRef_fkey; Type: FK CONSTRAINT; Schema: public; Owner: root
--

ALTER TABLE ONLY public."Artworks"
    ADD CONSTRAINT "Artworks_ArtistRef_fkey" FOREIGN KEY ("ArtistRef") REFERENCES public."Artists"("ArtistID");


--
-- PostgreSQL database dump complete
--

